"""Dashboard URLs (server-rendered pages)."""

from django.urls import path

from accounts import views as accounts_views
from invoices import views as invoices_views
from marketplace import views as marketplace_views
from settlements import views as settlements_views

urlpatterns = [
    # Accounts and onboarding
    path("login/", accounts_views.login_view, name="login"),
    path("logout/", accounts_views.logout_view, name="logout"),
    path("signup/", accounts_views.signup, name="signup"),
    path("onboarding/", accounts_views.kyc, name="kyc"),
    path("", accounts_views.dashboard, name="dashboard"),
    # Sellers
    path("seller/", invoices_views.seller_dashboard, name="seller-dashboard"),
    path("seller/invoices/upload/", invoices_views.invoice_upload_view, name="invoice-upload"),
    path(
        "seller/invoices/<uuid:invoice_id>/", invoices_views.seller_invoice, name="seller-invoice"
    ),
    path(
        "seller/invoices/<uuid:invoice_id>/document/",
        invoices_views.invoice_document,
        name="invoice-document",
    ),
    # Investors and the marketplace
    path("investor/", marketplace_views.investor_dashboard, name="investor-dashboard"),
    path("marketplace/", marketplace_views.marketplace, name="marketplace"),
    path("marketplace/<uuid:listing_id>/", marketplace_views.listing_detail, name="listing-detail"),
    path(
        "marketplace/<uuid:listing_id>/invest/",
        marketplace_views.listing_invest,
        name="listing-invest",
    ),
    # Wallet
    path("wallet/", settlements_views.wallet, name="wallet"),
    path(
        "wallet/statement.csv", settlements_views.wallet_statement_csv, name="wallet-statement-csv"
    ),
]
